import { defineSignal } from '@temporalio/workflow';

/**
 * Input of {@link steerTurn}: another request's message, delivered into the running turn by its id only (the text is
 * stored with that request's turn row and never enters Temporal).
 */
export interface SteerTurnInput {
  /** The steered request's own (claimed) turn id; its message is stored into the running turn once. */
  turnId: string;
  /** @deprecated Only in signals sent before messages stayed out of Temporal; read as a fallback, never sent. */
  message?: string;
}

/**
 * A message for the running turn: taken in at its next hop boundary (after the current tool round), so the model's
 * next reply sees it. A turn that ends without another boundary leaves it to its conversation, which queues it.
 */
export const steerTurn = defineSignal<[SteerTurnInput]>('steerTurn');

/** Input of {@link steersAccepted}. */
export interface SteersAcceptedInput {
  /** The turn the messages joined. */
  intoTurnId: string;
  /** The steered requests' turn ids whose messages are now stored in it. */
  turnIds: string[];
}

/** Sent by a turn to its conversation once steered messages are stored in it (they will not be queued). */
export const steersAccepted = defineSignal<[SteersAcceptedInput]>('steersAccepted');
