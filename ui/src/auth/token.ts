// The API token (ORCHEST_API_TOKENS on the gateway), kept for the tab
// (sessionStorage: a reload keeps it, another tab asks again, closing the
// tab forgets it). A 401 from the API asks for it again (the prompt listens
// here), saying the token given was refused.

const KEY = "orchest.apiToken";
type Listener = () => void;
const listeners = new Set<Listener>();
let needed = false;

export function getToken(): string | null {
  return window.sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  window.sessionStorage.setItem(KEY, token);
  needed = false;
  listeners.forEach((l) => l());
}

/** The API answered 401: the token is missing or wrong. */
export function tokenRefused(): void {
  needed = true;
  listeners.forEach((l) => l());
}

export function tokenNeeded(): boolean {
  return needed;
}

export function subscribeToken(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}
