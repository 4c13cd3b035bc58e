// The small set of building blocks every page uses; styles in styles/app.css.

import type { ButtonHTMLAttributes, ComponentChildren, JSX } from "preact";
import { useId } from "preact/hooks";
import { IconAlert } from "./icons";

type ButtonProps = Omit<ButtonHTMLAttributes<HTMLButtonElement>, "size" | "type"> & {
  variant?: "primary" | "secondary" | "ghost" | "danger";
  size?: "sm" | "md";
  busy?: boolean;
  type?: "button" | "submit" | "reset";
  disabled?: boolean;
};

export function Button({ variant = "secondary", size = "md", busy, class: cls, children, disabled, type = "button", ...rest }: ButtonProps): JSX.Element {
  return (
    <button
      type={type}
      class={`btn btn-${variant} btn-${size}${cls ? ` ${String(cls)}` : ""}`}
      disabled={disabled || busy}
      aria-busy={busy ? "true" : undefined}
      {...rest}
    >
      {busy ? <span class="spinner spinner-sm" aria-hidden="true" /> : null}
      {children}
    </button>
  );
}

type FieldProps = {
  label: string;
  error?: string | undefined;
  hint?: ComponentChildren;
  children: (id: string, describedBy: string | undefined) => JSX.Element;
  class?: string;
};

/** A label, a control (render prop receives its id) and its hint or error, wired for screen readers. */
export function Field({ label, error, hint, children, class: cls }: FieldProps): JSX.Element {
  const id = useId();
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const describedBy = [hint ? hintId : "", error ? errId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field${error ? " field-invalid" : ""}${cls ? ` ${cls}` : ""}`}>
      <label for={id}>{label}</label>
      {children(id, describedBy)}
      {hint ? <div class="field-hint" id={hintId}>{hint}</div> : null}
      {error ? <div class="field-error" id={errId}>{error}</div> : null}
    </div>
  );
}

export function Card({ title, actions, children, class: cls, headingLevel = 2 }: {
  title?: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
  headingLevel?: 2 | 3;
}): JSX.Element {
  const H = headingLevel === 2 ? "h2" : "h3";
  return (
    <section class={`card${cls ? ` ${cls}` : ""}`}>
      {title || actions ? (
        <header class="card-header">
          {title ? <H class="card-title">{title}</H> : <span />}
          {actions ? <div class="card-actions">{actions}</div> : null}
        </header>
      ) : null}
      {children}
    </section>
  );
}

export function PageHeader({ title, description, actions }: {
  title: ComponentChildren;
  description?: ComponentChildren;
  actions?: ComponentChildren;
}): JSX.Element {
  return (
    <header class="page-header">
      <div class="page-heading">
        <h1>{title}</h1>
        {description ? <p class="page-description">{description}</p> : null}
      </div>
      {actions ? <div class="page-actions">{actions}</div> : null}
    </header>
  );
}

export function Badge({ tone = "neutral", children, title }: {
  tone?: "neutral" | "accent" | "positive" | "negative" | "warning" | "info";
  children: ComponentChildren;
  title?: string;
}): JSX.Element {
  return <span class={`badge badge-${tone}`} title={title}>{children}</span>;
}

export function Spinner({ label = "Loading" }: { label?: string }): JSX.Element {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function ErrorNotice({ title = "Something went wrong", message, onRetry }: {
  title?: string;
  message: string;
  onRetry?: (() => void) | undefined;
}): JSX.Element {
  return (
    <div class="notice notice-error" role="alert">
      <IconAlert />
      <div>
        <strong>{title}</strong>
        <p>{message}</p>
      </div>
      {onRetry ? <Button size="sm" onClick={onRetry}>Try again</Button> : null}
    </div>
  );
}

export function Notice({ tone = "info", children }: { tone?: "info" | "warning" | "success"; children: ComponentChildren }): JSX.Element {
  return <div class={`notice notice-${tone}`} role={tone === "warning" ? "alert" : "status"}>{children}</div>;
}

export function EmptyState({ title, children }: { title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children ? <div class="empty-body">{children}</div> : null}
    </div>
  );
}

/** A group of toggle buttons for a multi-select with few values (channels, labels). */
export function ChipGroup({ label, options, value, onChange, format }: {
  label: string;
  options: readonly string[];
  value: readonly string[];
  onChange: (next: string[]) => void;
  format?: (v: string) => string;
}): JSX.Element {
  const id = useId();
  return (
    <div class="chip-group" role="group" aria-labelledby={id}>
      <span class="chip-group-label" id={id}>{label}</span>
      <div class="chips">
        {options.map((o) => {
          const on = value.includes(o);
          return (
            <button
              type="button"
              key={o}
              class={`chip${on ? " chip-on" : ""}`}
              aria-pressed={on ? "true" : "false"}
              onClick={() => onChange(on ? value.filter((v) => v !== o) : [...value, o])}
            >
              {format ? format(o) : o}
            </button>
          );
        })}
      </div>
    </div>
  );
}

export function VisuallyHidden({ children }: { children: ComponentChildren }): JSX.Element {
  return <span class="sr-only">{children}</span>;
}
