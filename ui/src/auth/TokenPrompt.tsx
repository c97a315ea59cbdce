// Asks for the API token when the gateway refused a call (401).
import { useState, useSyncExternalStore, type FormEvent } from "react";
import { getToken, setToken, subscribeToken, tokenNeeded } from "./token";

export function useTokenNeeded(): boolean {
  return useSyncExternalStore(subscribeToken, tokenNeeded);
}

export function TokenPrompt() {
  const [value, setValue] = useState("");
  const refused = getToken() !== null; // one was given, and the gateway answered 401
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) setToken(value.trim());
  };
  return (
    <div className="token-prompt" role="dialog" aria-modal="true" aria-labelledby="token-title">
      <form onSubmit={submit} className="card">
        <h2 id="token-title">API token</h2>
        <p>This Orchest needs a token (one of the gateway's ORCHEST_API_TOKENS).</p>
        {refused && (
          <p className="banner banner-error" role="alert" data-testid="token-refused">
            <span aria-hidden="true">✖</span> The gateway refused the token: give another.
          </p>
        )}
        <label>
          Token{" "}
          <input
            type="password"
            autoFocus
            value={value}
            onChange={(e) => setValue(e.target.value)}
            data-testid="token-input"
          />
        </label>{" "}
        <button type="submit">Use this token</button>
      </form>
    </div>
  );
}
