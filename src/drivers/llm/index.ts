/** Live LLM sessions. */
export { type ChatMessage, estimateTokens, messageFromEvent, turnMessages } from "./history.js";
export { type LlmConfig, LlmDriver, type LlmDriverOptions, type SessionRecords } from "./llm-driver.js";
