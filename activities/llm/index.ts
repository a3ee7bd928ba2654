export {
  ChatStreamAccumulator,
  readChatStream,
  type AccumulatorOptions,
  type ReadChatStreamOptions,
} from './stream-reader';
export { chatChunkStream, openChatChunkStream, type ChatChunkStream, type RawResponseSource } from './sse';
export { ToolCallAssembler, DEFAULT_TOOL_CALL_ID_PREFIX } from './tool-calls';
export {
  ChatStreamError,
  MalformedChunkError,
  ProviderStreamError,
  TruncatedStreamError,
  LlmFailureType,
  isAbort,
  toLlmFailure,
  providerErrorOf,
  type ChatStreamErrorKind,
  type ToLlmFailureOptions,
} from './errors';
export { retryAfterMs } from './retry-after';
export { redact } from './redact';
export type { AssembledMessage, DroppedToolCall, ReadResult, StreamDelta, ToolCall } from './types';
export { tokenCounts } from './usage';
