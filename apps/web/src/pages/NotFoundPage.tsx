import { Link } from '../router.tsx';

export function NotFoundPage() {
  return (
    <div className="page page--narrow">
      <h1>Page not found</h1>
      <p>There is nothing at this address. It may have moved, or the link may be mistyped.</p>
      <div className="actions">
        <Link to="/" className="button">
          Go to the home page
        </Link>
      </div>
    </div>
  );
}
