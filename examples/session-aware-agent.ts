/**
 * Seed 004's SessionAwareAgent, written against the embedded API: an agent wrapper that opens a
 * session per task, tracks iterations and ends the session with the outcome.
 */
import {
  type AgentSession,
  completeSession,
  failSession,
  getActiveSessions,
  incrementIteration,
  pauseSession,
  resumeSession,
  startSession,
} from "sessiond";

/** What one step of the agent's work produced. */
export interface StepOutcome {
  done: boolean;
  output?: string;
}

export class SessionAwareAgent {
  constructor(
    private readonly userId: string,
    private readonly channelId: string,
    /** The agent's work, one step per call; the default finishes in one step. */
    private readonly step: (task: string, iteration: number) => Promise<StepOutcome> = async (task) => ({
      done: true,
      output: `done: ${task}`,
    }),
  ) {}

  /** Runs a task inside a session: iterates until done or out of iterations. */
  async execute(task: string, mode: string, maxIterations = 20): Promise<{ session: AgentSession; output?: string }> {
    let session = await startSession(task, mode, { userId: this.userId, channelId: this.channelId, maxIterations });
    try {
      for (let i = 0; i < maxIterations; i++) {
        session = await incrementIteration(session.id, { step: i + 1 });
        const outcome = await this.step(task, i + 1);
        if (outcome.done) {
          session = await completeSession(session.id, outcome.output);
          return { session, ...(outcome.output !== undefined ? { output: outcome.output } : {}) };
        }
        if (session.status === "timeout") break;
      }
      return { session };
    } catch (error) {
      await failSession(session.id, (error as Error).message);
      throw error;
    }
  }

  getActiveSessions(): AgentSession[] {
    return getActiveSessions({ userId: this.userId, channelId: this.channelId });
  }

  pause(sessionId: string, reason?: string): Promise<AgentSession> {
    return pauseSession(sessionId, reason);
  }

  resume(sessionId: string): Promise<AgentSession> {
    return resumeSession(sessionId);
  }
}
