/** The one task queue every turnflow worker polls and every client starts turns on. */
export const TASK_QUEUE = 'turnflow';
