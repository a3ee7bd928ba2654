import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { ChatStreamError, openChatChunkStream, readChatStream } from '../activities/llm';
import type { AssembledMessage, ToolCall } from '../activities/llm';
import { startScriptedLlm } from '../scripted-llm';
import type { ScriptedLlm } from '../scripted-llm';
import { UsageError } from './command';
import type { Command } from './command';

/** What `turnflow replay` prints: the reading of one recorded stream (keys in this order). */
export interface ReplayOutput {
  content: string | null;
  tool_calls: ToolCall[];
  finish_reason: string | null;
  usage: Record<string, unknown> | null;
  /** The error the stream (or the request) ended with; the stream's error is data, not a failure. */
  error: { message: string } | null;
}

/** Options of {@link replayFixture}. */
export interface ReplayOptions {
  /** A running scripted server to use (tests share one); without it one is started and closed. */
  llm?: ScriptedLlm;
}

const EMPTY: AssembledMessage = {
  content: null,
  reasoning: null,
  refusal: null,
  toolCalls: [],
  finishReason: null,
  usage: null,
};

/**
 * Replays a recorded SSE file byte for byte through the scripted server, reads it with the real
 * `openai` client and the stream reader, and returns the reading. Errors the stream or the request
 * ended with are returned in `error`; anything else (server, script) is thrown.
 */
export async function replayFixture(file: string, options: ReplayOptions = {}): Promise<ReplayOutput> {
  const llm = options.llm ?? (await startScriptedLlm({ port: 0 }));
  try {
    llm.enqueue([{ fixture: path.resolve(file) }]);
    const client = new OpenAI({ baseURL: llm.baseURL, apiKey: 'replay', maxRetries: 0 });
    try {
      const stream = await openChatChunkStream(
        client.chat.completions.create({
          model: 'replay',
          messages: [{ role: 'user', content: `replay ${path.basename(file)}` }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      const { message } = await readChatStream(stream);
      return toOutput(message, null);
    } catch (err: unknown) {
      if (err instanceof ChatStreamError) return toOutput(err.partial, err.message);
      if (err instanceof OpenAI.APIError) return toOutput(EMPTY, err.message);
      throw err;
    }
  } finally {
    if (options.llm === undefined) await llm.close();
  }
}

function toOutput(message: AssembledMessage, error: string | null): ReplayOutput {
  return {
    content: message.content,
    tool_calls: message.toolCalls,
    finish_reason: message.finishReason,
    usage: message.usage,
    error: error === null ? null : { message: error },
  };
}

/** `turnflow replay FILE.sse`: prints the reading of a recorded stream as one JSON object. */
export const replayCommand: Command = {
  summary: 'replay a recorded SSE stream through the real openai client and print its reading as JSON',
  usage: [
    'usage: turnflow replay FILE.sse',
    '',
    'Serves FILE byte for byte from the scripted OpenAI-compatible server, reads it with the openai',
    'client and the turnflow stream reader, and prints one JSON object on stdout:',
    '  {"content", "tool_calls", "finish_reason", "usage", "error"}',
    'Exits 0 even when the stream carried an error (it is printed in "error").',
  ].join('\n'),
  async run(args) {
    const { positionals } = parseCommandArgs(args);
    const [file, ...extra] = positionals;
    if (file === undefined) throw new UsageError('replay needs a FILE');
    if (extra.length > 0) throw new UsageError(`replay takes one FILE, got ${positionals.length}`);
    try {
      await access(file, constants.R_OK);
    } catch (err: unknown) {
      throw new UsageError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const output = await replayFixture(file);
    process.stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  },
};

function parseCommandArgs(args: string[]): { positionals: string[] } {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: {} });
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
