export { createGatewayMetrics, type GatewayMetrics, type GatewayMetricsOptions } from './gateway';
export { startMetricsServer, type MetricsServer } from './server';
export {
  createWorkerMetrics,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  type WorkerMetricsOptions,
} from './worker';
