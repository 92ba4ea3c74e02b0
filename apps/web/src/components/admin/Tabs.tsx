import { useRef } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';

export interface TabDefinition<Id extends string> {
  id: Id;
  label: string;
}

/**
 * WAI-ARIA tabs: a tablist of buttons (arrow keys, Home and End move between them) and the
 * selected tab's panel.
 */
export function Tabs<Id extends string>(props: {
  label: string;
  tabs: ReadonlyArray<TabDefinition<Id>>;
  selected: Id;
  onSelect: (id: Id) => void;
  children: ReactNode;
}) {
  const { tabs, selected, onSelect } = props;
  const buttons = useRef<Array<HTMLButtonElement | null>>([]);

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>): void {
    const index = tabs.findIndex((tab) => tab.id === selected);
    const next =
      event.key === 'ArrowRight'
        ? (index + 1) % tabs.length
        : event.key === 'ArrowLeft'
          ? (index - 1 + tabs.length) % tabs.length
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? tabs.length - 1
              : undefined;
    const tab = next === undefined ? undefined : tabs[next];
    if (next === undefined || tab === undefined) return;
    event.preventDefault();
    onSelect(tab.id);
    buttons.current[next]?.focus();
  }

  return (
    <>
      <div className="tabs" role="tablist" aria-label={props.label} onKeyDown={onKeyDown}>
        {tabs.map((tab, index) => (
          <button
            key={tab.id}
            ref={(element) => {
              buttons.current[index] = element;
            }}
            type="button"
            role="tab"
            id={`tab-${tab.id}`}
            className="tab"
            aria-selected={tab.id === selected}
            aria-controls={`panel-${tab.id}`}
            tabIndex={tab.id === selected ? 0 : -1}
            onClick={() => onSelect(tab.id)}
          >
            {tab.label}
          </button>
        ))}
      </div>
      <div
        className="tab-panel"
        role="tabpanel"
        id={`panel-${selected}`}
        aria-labelledby={`tab-${selected}`}
        tabIndex={0}
      >
        {props.children}
      </div>
    </>
  );
}
