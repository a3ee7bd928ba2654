export { replayFixture, replayCommand, type ReplayOptions, type ReplayOutput } from './replay';
export { EXIT_USAGE, UsageError, type Command } from './command';
