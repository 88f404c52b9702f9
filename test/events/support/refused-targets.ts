/**
 * Webhook URLs the target policy refuses unless config `webhookAllowHosts` lists them, one of
 * each form: private, loopback, link-local, metadata and unspecified addresses, IPv4-mapped IPv6
 * and other spellings of them, names that are always local, and credentials in the URL.
 */
export const REFUSED_WEBHOOK_URLS: readonly string[] = [
  // private
  "http://10.0.0.5/hook",
  "http://172.16.3.4/hook",
  "http://172.31.255.254/hook",
  "http://192.168.1.10/hook",
  "http://[fc00::1]/hook",
  "http://[fd12:3456::1]/hook",
  // loopback
  "http://127.0.0.1:8080/hook",
  "http://127.255.0.1/hook",
  "http://[::1]:3001/hook",
  "http://localhost:3001/hook",
  "http://LOCALHOST./hook",
  "http://api.localhost/hook",
  // link-local
  "http://169.254.10.10/hook",
  "http://[fe80::1]/hook",
  // metadata
  "http://169.254.169.254/latest/meta-data/",
  "http://[fd00:ec2::254]/latest/meta-data/",
  "http://metadata.google.internal/computeMetadata/v1/",
  // unspecified
  "http://0.0.0.0:8011/hook",
  "http://[::]/hook",
  // IPv4-mapped IPv6 forms
  "http://[::ffff:127.0.0.1]/hook",
  "http://[::ffff:10.0.0.1]/hook",
  "http://[::ffff:a9fe:a9fe]/hook",
  // other spellings of 127.0.0.1 that URL parsers accept
  "http://2130706433/hook",
  "http://0x7f.0.0.1/hook",
  "http://127.1/hook",
  // credentials
  "https://user:pw@hooks.example.test/hook",
  "https://token@hooks.example.test/hook",
];

/** URLs any policy accepts: public names and addresses. */
export const PUBLIC_WEBHOOK_URLS: readonly string[] = ["https://hooks.example.test/hook", "http://203.0.113.5:8080/hook", "http://172.32.0.1/hook", "http://[2001:db8::5]/hook"];
