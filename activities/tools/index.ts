export { approvalNeed, MAX_APPROVAL_REASON_CHARS, type ApprovalNeed } from './approval';
export {
  defineTool,
  MAX_LOCAL_TOOL_TIMEOUT_MS,
  type ApprovalContext,
  type ApprovalRequirement,
  type ToolApproval,
  toolIdempotencyKey,
  type Tool,
  type ToolCallIdentity,
  type ToolConfig,
  type ToolContext,
  type ToolDescription,
  type ToolParameters,
  type ToolRetryOptions,
} from './define';
export {
  CalculationError,
  RetryableToolError,
  ToolCallMismatchError,
  ToolConfigError,
  ToolTimeoutError,
  UnknownToolsError,
} from './errors';
export { TOOL_FAILURE_TYPES, toToolFailure } from './failure';
export { toToolJsonSchema, type JsonSchemaObject } from './json-schema';
export { ToolErrorType, ToolOutcome } from './outcome';
export { DEFAULT_TOOL_RETRY, DEFAULT_TOOL_TIMEOUT_MS, toolPolicy, type ToolPolicy } from './policy';
export { createToolRegistry, TOOL_NAME_PATTERN, type ToolRegistry } from './registry';
export { parseArguments, runToolCall, type ParsedArguments, type ToolCall } from './run';
export * from './builtin';
