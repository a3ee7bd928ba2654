export { EnvDuration } from './duration';
export { ConfigError } from './errors';
export {
  EnvBool,
  TemporalEnv,
  temporalConnectionOptions,
  temporalEnvProblem,
  type TemporalConnectionOptions,
} from './temporal';
