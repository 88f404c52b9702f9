import { describe, expect, it } from "vitest";
import { maskSecrets } from "../../src/cli/mask-secrets.js";
import { resolveConfig } from "../../src/core/index.js";

/** `sessiond config --json` shows the configuration with every credential masked. */

function config(file: Record<string, unknown>) {
  return resolveConfig({ env: { HOME: "/h" }, file });
}

describe("maskSecrets", () => {
  it("masks the password of every URL, whichever key holds it, and keeps the rest of the URL", () => {
    const masked = maskSecrets(
      config({
        pgUrl: "postgres://app:pg-pw-1@db.internal:5432/sessiond",
        redisUrl: "redis://:redis-pw-2@cache:6379/0",
        llmBaseUrl: "https://llm-user:llm-pw-3@llm.internal/v1",
        webhooks: [{ url: "https://hook-user:hook-pw-4@ci.example/hook", secret: "hook-secret-5" }],
      }),
    );
    expect(masked.pgUrl).toBe("postgres://app:********@db.internal:5432/sessiond");
    expect(masked.redisUrl).toBe("redis://:********@cache:6379/0");
    expect(masked.llmBaseUrl).toBe("https://llm-user:********@llm.internal/v1");
    expect(masked.webhooks).toEqual([expect.objectContaining({ url: "https://hook-user:********@ci.example/hook", secret: "********" })]);
    expect(JSON.stringify(masked)).not.toMatch(/pg-pw-1|redis-pw-2|llm-pw-3|hook-pw-4|hook-secret-5/);
  });

  it("masks secret-looking query parameters of a URL", () => {
    const masked = maskSecrets(config({ redisUrl: "rediss://cache:6380/0?password=q-pw-6&tls=true", webhooks: [{ url: "https://ci.example/hook?access_token=q-tok-7&x=1" }] }));
    expect(masked.redisUrl).toBe("rediss://cache:6380/0?password=********&tls=true");
    expect((masked.webhooks as { url: string }[])[0]!.url).toBe("https://ci.example/hook?access_token=********&x=1");
  });

  it("masks tokens and the llm API key, and a URL-valued key it cannot parse entirely", () => {
    const token = "a-reader-token-0123456789-abcdefghijklmn";
    const masked = maskSecrets(config({ tokens: [{ token, role: "reader", name: "dash" }], llmApiKey: "sk-live-8", pgUrl: "host=db password=conn-pw-9" }));
    expect(masked.tokens).toEqual([{ token: "********", role: "reader", name: "dash" }]);
    expect(masked.llmApiKey).toBe("********");
    expect(masked.pgUrl).toBe("********");
    expect(JSON.stringify(masked)).not.toMatch(/0123456789-abcdefghijklmn|sk-live-8|conn-pw-9/);
  });

  it("leaves what is not secret as it is, and the config itself unchanged", () => {
    const original = config({ pgUrl: "postgres://app@db/sessiond", llmBaseUrl: "https://api.openai.com/v1", shellEnv: ["PATH"] });
    const masked = maskSecrets(original);
    expect(masked.pgUrl).toBe("postgres://app@db/sessiond");
    expect(masked.llmBaseUrl).toBe("https://api.openai.com/v1");
    expect(masked.shellEnv).toEqual(["PATH"]);
    expect(masked.llmHistoryTokens).toBe(original.llmHistoryTokens);
    expect(masked.port).toBe(original.port);
  });
});
