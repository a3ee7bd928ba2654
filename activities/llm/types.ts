/** One piece of streamed output, in arrival order. Empty strings are never emitted. */
export interface StreamDelta {
  /**
   * `text` is answer content; `reasoning` is the provider's separate reasoning channel
   * (`reasoning_content`, `reasoning`, Mistral `thinking` parts); `refusal` is OpenAI's `delta.refusal`.
   */
  readonly kind: 'text' | 'reasoning' | 'refusal';
  readonly text: string;
}

/** A complete tool call, shaped like OpenAI's `ChatCompletionMessageFunctionToolCall`. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A tool call the stream left incomplete; it is kept out of {@link AssembledMessage.toolCalls}. */
export interface DroppedToolCall {
  /** Position among all calls the stream opened (the same position used for generated ids). */
  position: number;
  /** The provider's `index`, or `null` when the provider sent none. */
  index: number | null;
  /** The provider's id, or `null` when it sent none. */
  id: string | null;
  /** Always `null` today: a call is dropped because it has no function name. */
  name: string | null;
  arguments: string;
  reason: 'missing_name';
}

/** The assistant message a stream assembled (choice index 0 only). */
export interface AssembledMessage {
  /** Concatenated content; `null` when the stream carried none (the seed's `"".join(parts) or None`). */
  content: string | null;
  /** Concatenated reasoning, kept apart from `content`; `null` when none. */
  reasoning: string | null;
  /** Concatenated refusal text (`delta.refusal`); `null` when none. */
  refusal: string | null;
  /** Complete tool calls in the order the stream opened them. */
  toolCalls: ToolCall[];
  /** The last non-null `finish_reason` of choice 0. */
  finishReason: string | null;
  /** The last non-null `usage` object, exactly as the provider sent it. */
  usage: Record<string, unknown> | null;
}

/** What {@link readChatStream} returns when the stream ended without error. */
export interface ReadResult {
  message: AssembledMessage;
  /** Incomplete tool calls that were dropped from `message.toolCalls`, for logging. */
  droppedToolCalls: DroppedToolCall[];
  /** Number of chunks (SSE data events) read. */
  chunks: number;
  /** The reading was ended early by `stopOnUsage`: the message is the part received until then. */
  stopped: boolean;
}
