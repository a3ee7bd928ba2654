import type { Tool } from '../define';
import { calculateTool } from './calculate';
import { currentTimeTool, type CurrentTimeOptions } from './current-time';

export { calculateTool, CalculateArgs, type CalculateResult } from './calculate';
export {
  currentTimeTool,
  CurrentTimeArgs,
  isKnownTimeZone,
  zonedTime,
  type CurrentTimeOptions,
  type ZonedTime,
} from './current-time';
export { evaluate, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH } from './arithmetic/evaluate';

/** Options of {@link builtinTools}. */
export type BuiltinToolsOptions = CurrentTimeOptions;

/** The built-in tools: `get_current_time` and `calculate`. */
export function builtinTools(options: BuiltinToolsOptions = {}): Tool[] {
  return [currentTimeTool(options), calculateTool];
}
