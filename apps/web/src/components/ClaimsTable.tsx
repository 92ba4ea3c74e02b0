import { formatClaim } from '../format.ts';

/** Every claim `GET /bff/user` returned, one row each. */
export function ClaimsTable({ claims }: { claims: Record<string, unknown> }) {
  return (
    <table data-testid="claims" className="table">
      <thead>
        <tr>
          <th scope="col">Claim</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(claims).map(([name, value]) => (
          <tr key={name}>
            <th scope="row">{name}</th>
            <td>{formatClaim(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
