// Modal dialog and side drawer on the native <dialog>: focus moves in and is trapped by the
// browser, Escape closes, focus returns to the opener.

import type { ComponentChildren, JSX } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";
import { IconClose } from "./icons";

export function Dialog({ open, onClose, title, children, footer, variant = "modal", size = "md" }: {
  open: boolean;
  onClose: () => void;
  title: ComponentChildren;
  children: ComponentChildren;
  footer?: ComponentChildren;
  variant?: "modal" | "drawer";
  size?: "sm" | "md" | "lg";
}): JSX.Element | null {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (open && !el.open) el.showModal();
    if (!open && el.open) el.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      class={`dialog dialog-${variant} dialog-${size}`}
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself, outside its panel) closes it.
        if (e.target === ref.current) onClose();
      }}
    >
      {open ? (
        <div class="dialog-panel">
          <header class="dialog-header">
            <h2 id={titleId}>{title}</h2>
            <button type="button" class="icon-btn" onClick={onClose} aria-label="Close">
              <IconClose />
            </button>
          </header>
          <div class="dialog-body">{children}</div>
          {footer ? <footer class="dialog-footer">{footer}</footer> : null}
        </div>
      ) : null}
    </dialog>
  );
}
