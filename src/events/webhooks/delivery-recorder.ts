import type { Counter } from "prom-client";
import { type Session, type SessionEvent, newId } from "../../core/index.js";
import type { EventBus, SessionChange } from "../../engine/index.js";
import type { Store, WebhookDelivery } from "../../store/store.js";
import { type SinkLogger, errorFields } from "../logger.js";
import { type WebhookEvent, isWebhookEvent, webhookPayload } from "./payload.js";
import { type WebhookRegistration, wants } from "./registrations.js";

/** What a DeliveryRecorder needs. */
export interface DeliveryRecorderOptions {
  readonly store: Pick<Store, "putWebhookDeliveries">;
  /** The registrations now, read once per batch. */
  readonly registrations: () => Promise<ReadonlyMap<string, WebhookRegistration>>;
  /** How long events wait to be recorded in one batch; 0 records on the next turn. */
  readonly flushIntervalMs: number;
  /** Events held before recording; past this they are dropped. */
  readonly maxBuffered: number;
  /** Called after new deliveries are in the store (to wake the dispatcher). */
  readonly onRecorded: () => void;
  readonly logger: SinkLogger;
  readonly dropped: Counter;
  readonly clock: () => number;
}

type Buffered = { readonly session: Session; readonly event: SessionEvent & { type: WebhookEvent } };

/**
 * Turns committed session events of the webhook types into delivery records. The bus listener
 * only appends to an in-memory buffer, so writers never wait on webhooks; the buffer is recorded
 * in the store in one batch shortly after (one delivery per matching registration), where the
 * dispatcher picks it up. A restart loses nothing recorded; close() records what is buffered.
 */
export class DeliveryRecorder {
  private buffer: Buffered[] = [];
  /** Cancels the scheduled flush, when one is scheduled. */
  private cancelScheduled: (() => void) | undefined;
  private recording: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private counts = { recorded: 0, dropped: 0 };

  constructor(
    bus: EventBus,
    private readonly options: DeliveryRecorderOptions,
  ) {
    this.unsubscribe = bus.subscribe(this.onChange);
  }

  /** Events waiting to be recorded, deliveries recorded, events dropped (buffer full or store failing). */
  stats(): { buffered: number; recorded: number; dropped: number } {
    return { buffered: this.buffer.length, ...this.counts };
  }

  /** Records what is buffered now; resolves when it is in the store. */
  flush(): Promise<void> {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
    this.recording = this.recording.then(() => this.record());
    return this.recording;
  }

  /** Stops listening and records what is buffered. */
  async close(): Promise<void> {
    this.unsubscribe();
    await this.flush();
  }

  // Called synchronously by the bus after each commit: it must only buffer.
  private readonly onChange = (change: SessionChange): void => {
    if (change.type !== "event.appended") return;
    const event = change.event;
    if (!isWebhookEvent(event.type)) return;
    if (this.buffer.length >= this.options.maxBuffered) {
      this.drop(1);
      return;
    }
    this.buffer.push({ session: change.session, event: event as Buffered["event"] });
    this.cancelScheduled ??= this.scheduleFlush();
  };

  private async record(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    if (!batch.length) return;
    try {
      const registrations = [...(await this.options.registrations()).values()];
      const deliveries = this.deliveries(batch, registrations);
      if (!deliveries.length) return;
      this.counts.recorded += await this.options.store.putWebhookDeliveries(deliveries);
      this.options.onRecorded();
    } catch (err) {
      this.drop(batch.length);
      this.options.logger.error({ ...errorFields(err), events: batch.length }, "could not record webhook deliveries; these events will not be delivered");
    }
  }

  private deliveries(batch: readonly Buffered[], registrations: readonly WebhookRegistration[]): WebhookDelivery[] {
    const now = new Date(this.options.clock()).toISOString();
    const out: WebhookDelivery[] = [];
    for (const { session, event } of batch) {
      const targets = registrations.filter((r) => wants(r, event.type));
      if (!targets.length) continue;
      const body = JSON.stringify(webhookPayload(session, event));
      for (const target of targets) {
        out.push({
          id: newId(),
          webhook_id: target.id,
          event: event.type,
          session_id: session.id,
          seq: event.seq,
          status: "pending",
          attempts: 0,
          last_status_code: null,
          last_error: null,
          next_attempt_at: now,
          created_at: now,
          delivered_at: null,
          body,
        });
      }
    }
    return out;
  }

  private drop(n: number): void {
    this.counts.dropped += n;
    this.options.dropped.inc(n);
  }

  private scheduleFlush(): () => void {
    const flush = () => void this.flush();
    if (this.options.flushIntervalMs === 0) {
      const immediate = setImmediate(flush);
      return () => clearImmediate(immediate);
    }
    const timeout = setTimeout(flush, this.options.flushIntervalMs);
    return () => clearTimeout(timeout);
  }
}
