import { useRef, useState } from 'react';

/**
 * A value to paste elsewhere (a redirect URI), with a "Copy" button. Without clipboard access
 * (plain-http origins, a refused permission) it selects the text for Ctrl+C instead.
 */
export function CopyableValue(props: { label: string; value: string; testId: string }) {
  const valueRef = useRef<HTMLElement>(null);
  const [note, setNote] = useState<string | undefined>(undefined);

  function selectValue(): void {
    const element = valueRef.current;
    const selection = window.getSelection();
    if (element && selection) {
      const range = document.createRange();
      range.selectNodeContents(element);
      selection.removeAllRanges();
      selection.addRange(range);
    }
    setNote('Selected: press Ctrl+C (⌘C on a Mac) to copy.');
  }

  function copy(): void {
    // Undefined outside secure contexts, whatever the DOM typings say.
    const clipboard = navigator.clipboard as Clipboard | undefined;
    if (!clipboard) {
      selectValue();
      return;
    }
    clipboard.writeText(props.value).then(() => setNote('Copied.'), selectValue);
  }

  return (
    <div className="copyable">
      <span className="copyable__label">{props.label}</span>
      <code ref={valueRef} className="copyable__value" data-testid={props.testId}>
        {props.value}
      </code>
      <button
        type="button"
        className="button--secondary"
        aria-label={`Copy ${props.label}`}
        onClick={copy}
      >
        Copy
      </button>
      <span role="status" className="hint">
        {note}
      </span>
    </div>
  );
}
