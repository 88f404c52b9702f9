/**
 * The official LangGraph checkpointer suite (@langchain/langgraph-checkpoint-validation), as its
 * `validate()` defines it — put, putWrites, getTuple, list, deleteThread — plus the package's
 * delta-channel-history tests, against SessiondSaver. Run by that package's own vitest (4) from
 * langgraph-validation.test.ts; not part of the project's vitest run by itself (`.spec.mts`).
 */
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import initializer from "./validation-initializer.mjs";

validate(initializer);
deltaChannelHistoryTests(initializer);
