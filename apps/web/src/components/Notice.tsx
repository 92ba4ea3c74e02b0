import type { ReactNode } from 'react';

interface NoticeProps {
  /** `error` is announced at once (role alert); `status` politely (role status). */
  tone: 'error' | 'status';
  testId: string;
  /** Adds a "Retry" button after the message. */
  onRetry?: () => void;
  children: ReactNode;
}

/** The one way the SPA shows a message: an outcome, a failure, a failure that can be retried. */
export function Notice({ tone, testId, onRetry, children }: NoticeProps) {
  const role = tone === 'error' ? 'alert' : 'status';
  const className = tone === 'error' ? 'notice notice--error' : 'notice';
  if (onRetry === undefined) {
    return (
      <p role={role} className={className} data-testid={testId}>
        {children}
      </p>
    );
  }
  return (
    <div role={role} className={className} data-testid={testId}>
      <p>{children}</p>
      <button type="button" onClick={onRetry}>
        Retry
      </button>
    </div>
  );
}
