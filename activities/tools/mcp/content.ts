import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** Longest text of one content part kept before the whole result is bounded like every tool result. */
const MAX_PART_CHARS = 100_000;

/**
 * A tool result as the model reads it: text parts as text, every other part summarised in one line (type, MIME
 * type, size, URI), never dropped. A result with no content but `structuredContent` reads as that JSON.
 */
export function contentText(result: CallToolResult): string {
  const parts = (result.content ?? []).map(partText);
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return parts.join('\n');
}

type Part = NonNullable<CallToolResult['content']>[number];

function partText(part: Part): string {
  switch (part.type) {
    case 'text':
      return part.text.length > MAX_PART_CHARS ? part.text.slice(0, MAX_PART_CHARS) : part.text;
    case 'image':
    case 'audio':
      return `[${part.type}: ${part.mimeType}, ${base64Bytes(part.data)} bytes, not shown]`;
    case 'resource': {
      const r = part.resource;
      const size = 'text' in r ? `${r.text.length} characters of text` : `${base64Bytes(r.blob)} bytes`;
      return `[resource: ${r.uri}${r.mimeType ? `, ${r.mimeType}` : ''}, ${size}, not shown]`;
    }
    case 'resource_link':
      return `[resource link: ${part.uri}${part.mimeType ? `, ${part.mimeType}` : ''}${part.name ? ` (${part.name})` : ''}]`;
    default:
      return `[${String((part as { type?: unknown }).type)} content, not shown]`;
  }
}

function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}
