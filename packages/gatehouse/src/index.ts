export type T = { a: number }; export const x: number = 41 + 1;
