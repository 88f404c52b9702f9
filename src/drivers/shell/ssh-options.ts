import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { type Static, Type } from "@sinclair/typebox";
import { type Config, SSH_DEFAULT_PORT, SSH_DEFAULT_RUNTIME_DIR, SshHostKeySha256, errors, validate } from "../../core/index.js";
// ssh2 is CommonJS: its `utils` comes through the default export under Node's ESM loader.
import ssh2 from "ssh2";
import { ANY_HOST_KEY, type SshTarget } from "./ssh-transport.js";


const sshUtils = ssh2.utils;
/**
 * A start request's `server_options` for `server: "ssh"`. Each falls back to config `ssh`; the
 * key (inline or by path) is read at start and kept in memory only — never logged, never in the
 * session record (so after a server restart, recovery uses config `ssh`).
 */
export const SshOptionsSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    /** A private key in OpenSSH or PEM form. */
    private_key: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536 })),
    /** A private key file on the sessiond host. */
    private_key_path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    passphrase: Type.Optional(Type.String({ maxLength: 1024 })),
    /**
     * The host key's fingerprint (`SHA256:…` as `ssh-keygen -lf` prints it). Required, here or
     * in config `ssh.hostKeySha256`, unless config `ssh.acceptUnknownHostKeys` is true.
     */
    host_key_sha256: Type.Optional(SshHostKeySha256),
  },
  { additionalProperties: false },
);

export type SshOptions = Static<typeof SshOptionsSchema>;

/**
 * Merges `server_options` over config `ssh` and reads the key.
 * @throws validation naming `server_options.<field>` for a missing host, user, key or host key
 *   fingerprint, or a key file that does not give a usable key (one answer for every reason)
 */
export async function resolveSshTarget(options: unknown, defaults: Config["ssh"]): Promise<SshTarget> {
  const given = validate(SshOptionsSchema, options ?? {}, "server_options");
  const host = given.host ?? defaults.host;
  if (!host) throw errors.validation("server_options.host", "an ssh session needs a host (here or in config ssh.host)");
  const user = given.user ?? defaults.user;
  if (!user) throw errors.validation("server_options.user", "an ssh session needs a user (here or in config ssh.user)");
  let privateKey: string | Buffer | undefined = given.private_key;
  const keyPath = given.private_key_path ?? (privateKey === undefined ? defaults.keyPath : undefined);
  if (privateKey === undefined && keyPath !== undefined) {
    privateKey = await readKeyFile(keyPath, given.passphrase);
    if (privateKey === undefined) throw errors.validation("server_options.private_key_path", KEY_FILE_REFUSED);
  }
  if (privateKey === undefined) {
    throw errors.validation("server_options.private_key", "an ssh session needs a private key or private_key_path (here or in config ssh.keyPath)");
  }
  // As ssh's StrictHostKeyChecking: a host whose key nobody pinned could be anyone.
  const hostKeySha256 = given.host_key_sha256 ?? defaults.hostKeySha256 ?? (defaults.acceptUnknownHostKeys ? ANY_HOST_KEY : undefined);
  if (hostKeySha256 === undefined) {
    throw errors.validation(
      "server_options.host_key_sha256",
      "an ssh session needs the host's key fingerprint (here or in config ssh.hostKeySha256; `ssh-keygen -lf <host key>.pub` on the host prints it), or config ssh.acceptUnknownHostKeys: true",
    );
  }
  return {
    host,
    hostKeySha256,
    port: given.port ?? defaults.port ?? SSH_DEFAULT_PORT,
    runtimeDir: defaults.runtimeDir ?? SSH_DEFAULT_RUNTIME_DIR,
    user,
    privateKey,
    ...(given.passphrase === undefined ? {} : { passphrase: given.passphrase }),
  };
}

/**
 * The one answer for a `private_key_path` that gives no usable key, whatever the reason — missing,
 * unreadable, not a regular file, too big, not a private key, or its passphrase wrong — so that
 * the path cannot be used to learn which files exist on the sessiond host or what they hold.
 */
const KEY_FILE_REFUSED = "no usable private key at that path (missing, unreadable, not a key file, or a wrong passphrase)";

/** Larger than any private key (an RSA-16384 PEM is about 12 KiB), as the inline `private_key`. */
const MAX_KEY_FILE_BYTES = 65_536;

/**
 * A private key file's bytes, or undefined when the path gives no usable key. Opened without
 * blocking and checked to be a regular file of key size first: a FIFO would hang the start, and
 * `/dev/zero` would be read forever.
 */
async function readKeyFile(path: string, passphrase: string | undefined): Promise<Buffer | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_KEY_FILE_BYTES) return undefined;
    const key = await handle.readFile();
    if (key.length > MAX_KEY_FILE_BYTES) return undefined;
    return sshUtils.parseKey(key, passphrase) instanceof Error ? undefined : key;
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => {});
  }
}
