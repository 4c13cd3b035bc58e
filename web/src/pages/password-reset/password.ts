// The password rule the server enforces, checked before sending so that people see it at once.

export function passwordProblems(p: string): string | null {
  const missing: string[] = [];
  if (p.length < 12) missing.push("at least 12 characters");
  if (!/[a-z]/.test(p)) missing.push("a lower-case letter");
  if (!/[A-Z]/.test(p)) missing.push("an upper-case letter");
  if (!/\d/.test(p)) missing.push("a digit");
  if (!/[^A-Za-z0-9]/.test(p)) missing.push("a symbol");
  return missing.length ? `Needs ${missing.join(", ")}.` : null;
}
