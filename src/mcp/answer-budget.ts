import type { RouteAnswer, RouteCall, RouteCaller } from "./route-caller.js";

/**
 * A caller for one MCP exchange (one POST: a message or a batch of up to 100) whose route calls
 * run one at a time and stop once their answers together hold `maxBytes`: the calls after that
 * are answered 413 without being made, which the tools and resources pass on as their error. A
 * batch of a hundred timeline reads (a page of up to maxPageBytes each) would otherwise make the
 * server hold and copy a hundred pages at once for a request of a few kilobytes.
 */
export class AnswerBudget implements RouteCaller {
  private spent = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly caller: RouteCaller,
    private readonly maxBytes: number,
  ) {}

  call(request: RouteCall): Promise<RouteAnswer> {
    const turn = this.queue.then(() => this.callInTurn(request));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async callInTurn(request: RouteCall): Promise<RouteAnswer> {
    if (this.spent >= this.maxBytes) return overBudget(this.maxBytes);
    const answer = await this.caller.call(request);
    this.spent += answer.bytes ?? 0;
    return answer;
  }
}

function overBudget(maxBytes: number): RouteAnswer {
  const message = `this MCP request's answers already hold ${maxBytes} bytes (config mcpMaxAnswerBytes): send fewer messages in one request, or read smaller pages`;
  return { status: 413, headers: {}, body: { error: { code: "too_large", message } } };
}
