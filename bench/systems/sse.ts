import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** POSTs `body` as JSON and calls `onEvent` for each Server-Sent Event of the answer until it ends. */
export async function postSse(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  onEvent: (event: EventSourceMessage) => void,
): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok || res.body === null) throw new Error(`POST ${url} answered ${res.status}: ${await res.text()}`);
  const parser = createParser({ onEvent });
  const decoder = new TextDecoder();
  for await (const part of res.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(part, { stream: true }));
}
