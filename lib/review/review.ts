/**
 * A review: every hold opens one (`open`), and a person or system closes it exactly once, as
 * `released` (fulfil the order) or `confirmed_fraud` (Radar: approved / refunded_as_fraud).
 */
import type { Decision, EntityKind, Reference } from '../events.js';
import type { ListEntry } from '../lists/lists.js';

export const REVIEW_STATUSES = ['open', 'released', 'confirmed_fraud'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];
export type CloseAction = 'release' | 'confirm-fraud';

export const CLOSED_STATUS: Readonly<Record<CloseAction, Exclude<ReviewStatus, 'open'>>> = {
  release: 'released',
  'confirm-fraud': 'confirmed_fraud',
};

/** The review as the API and merchant webhooks show it. */
export interface Review {
  readonly provider: string;
  readonly eventId: string;
  readonly status: ReviewStatus;
  readonly openedAt: string;
  readonly closedAt: string | null;
  readonly note: string | null;
  readonly reference: Reference | null;
  readonly decision: Decision;
}

/** What is stored: the review, the event's entities (peppered hashes, for confirm-fraud's block) and what closing wrote. */
export interface StoredReview extends Review {
  readonly entities: Partial<Record<EntityKind, string>>;
  readonly listEntries: readonly ListEntry[];
}

export function publicReview(stored: StoredReview): Review {
  const { entities: _e, listEntries: _l, ...review } = stored;
  return review;
}
