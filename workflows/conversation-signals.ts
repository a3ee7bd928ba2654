import { defineSignal } from '@temporalio/workflow';

/** Input of {@link steerTurn}: a message of another request, delivered into the running turn. */
export interface SteerTurnInput {
  /** The steered request's own (claimed) turn id; the message is stored once per steered request. */
  turnId: string;
  message: string;
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
