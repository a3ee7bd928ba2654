export { chatRoutes } from './routes';
export { ChatRequestBody } from './body';
export { answerMessageId, UiChunkTranslator, type ChatMessageMetadata } from './ui-chunks';
