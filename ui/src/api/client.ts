// The typed HTTP client of the API (openapi-fetch over the generated paths).
// Every call sends the token; a 401 opens the token prompt; any error
// becomes an ApiError listing every problem the API named.
import createClient, { type Middleware } from "openapi-fetch";
import { authHeaders, tokenRefused } from "../auth/token";
import type { paths } from "./schema";
import type { ErrorDetail } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    for (const [name, value] of Object.entries(authHeaders())) request.headers.set(name, value);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) tokenRefused();
    return response;
  },
};

export const client = createClient<paths>({ baseUrl: window.location.origin });
client.use(auth);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The body of a successful answer, else throws an ApiError. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok && data !== undefined) return data;
  if (response.ok) return undefined as T;
  throw toApiError(response, error);
}

export function toApiError(response: Response, body: unknown): ApiError {
  if (body && typeof body === "object" && "message" in body) {
    const { message, errors } = body as { message: string; errors?: ErrorDetail[] };
    return new ApiError(response.status, message, errors ?? []);
  }
  return new ApiError(response.status, `${response.status} ${response.statusText}`);
}

/** A plain fetch of an API path with the token (for streams and raw files). */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(authHeaders())) headers.set(name, value);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) tokenRefused();
  if (!response.ok) {
    const body: unknown = await response.json().catch(() => null);
    throw toApiError(response, body);
  }
  return response;
}
