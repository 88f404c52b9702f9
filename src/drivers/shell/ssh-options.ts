import { readFile } from "node:fs/promises";
import { type Static, Type } from "@sinclair/typebox";
import { type Config, SSH_DEFAULT_PORT, SSH_DEFAULT_RUNTIME_DIR, SshHostKeySha256, errors, validate } from "../../core/index.js";
import { ANY_HOST_KEY, type SshTarget } from "./ssh-transport.js";

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
 * @throws validation naming `server_options.<field>` for a missing host, user, key or host key fingerprint, or a key file that cannot be read
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
    privateKey = await readFile(keyPath).catch(() => {
      throw errors.validation("server_options.private_key_path", "the key file cannot be read");
    });
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
