/** Session changes out to Redis pub/sub, in seed 003's shape. */
export { type RedisSessionMessage, redisMessage, redisMessageJson } from "./messages.js";
export { type RedisDropReason, RedisPublisher, type RedisPublisherOptions, type RedisPublisherStats } from "./redis-publisher.js";
