import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Response } from 'express';
import { verifiedTokenOf } from './access-token.ts';

export interface Note {
  id: string;
  text: string;
  createdAt: string;
  updatedAt: string;
}

const MAX_TEXT_LENGTH = 1000;
/** Bounds the memory one user can take. */
const MAX_NOTES_PER_USER = 500;

/** `/notes` CRUD, kept in memory per (iss, sub): the same sub from another issuer is another user. */
export function createNotesRouter(): Router {
  const notesByUser = new Map<string, Map<string, Note>>();

  function notesOf(res: Response): Map<string, Note> {
    const { iss, sub } = verifiedTokenOf(res);
    const key = JSON.stringify([iss, sub]);
    let notes = notesByUser.get(key);
    if (!notes) {
      notes = new Map();
      notesByUser.set(key, notes);
    }
    return notes;
  }

  const router = Router();
  router.get('/notes', (_req, res) => {
    res.json({ notes: [...notesOf(res).values()] });
  });
  router.post('/notes', (req, res) => {
    const text = noteTextFrom(req.body);
    if (text === undefined) return void rejectText(res);
    const notes = notesOf(res);
    if (notes.size >= MAX_NOTES_PER_USER)
      return void res.status(409).json({ error: 'too_many_notes' });
    const now = new Date().toISOString();
    const note: Note = { id: randomUUID(), text, createdAt: now, updatedAt: now };
    notes.set(note.id, note);
    res.status(201).json(note);
  });
  router.put('/notes/:id', (req, res) => {
    const note = notesOf(res).get(req.params.id);
    if (!note) return void res.status(404).json({ error: 'not_found' });
    const text = noteTextFrom(req.body);
    if (text === undefined) return void rejectText(res);
    note.text = text;
    note.updatedAt = new Date().toISOString();
    res.json(note);
  });
  router.delete('/notes/:id', (req, res) => {
    if (!notesOf(res).delete(req.params.id))
      return void res.status(404).json({ error: 'not_found' });
    res.status(204).end();
  });
  return router;
}

function noteTextFrom(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('text' in body)) return undefined;
  const { text } = body;
  if (typeof text !== 'string' || text.length < 1 || text.length > MAX_TEXT_LENGTH)
    return undefined;
  return text;
}

function rejectText(res: Response): void {
  res.status(400).json({
    error: 'invalid_request',
    error_description: `text must be a string of 1 to ${MAX_TEXT_LENGTH} characters`,
  });
}
