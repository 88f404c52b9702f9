import { ansiC } from "./quote.js";
import type { StderrPipe } from "./transport.js";

/**
 * The setup's own descriptors: far above those scripts pick (3–9, 10 from bash's `{var}>`,
 * flock(1)'s example uses 200), below bash's own 255. A script that took one of them (`exec 10>lock`
 * when they were bash-allocated from 10) lost the exec's stderr, or broke the session for good.
 */
const FD = { stderrPipe: 250, devNull: 251, terminal: 252, xtrace: 253 } as const;

/** What the generated setup needs to know. */
export interface RcOptions {
  /** The stderr pipe (a FIFO sessiond reads). */
  readonly stderrPipe: StderrPipe;
  /** A file of the shell's own for the state capture (see `__sd_env`). */
  readonly stateFile: string;
  /** The nonce of the ready marker the setup prints last. */
  readonly readyNonce: string;
  /** `ulimit -u`; 0 for none. */
  readonly maxProcesses: number;
  /** How long the end of an exec with stdin waits for the server's fence (see `__sd_done`). */
  readonly fenceWaitMs: number;
}

/**
 * The shell's own setup, used instead of ~/.bashrc (bash runs with --norc --noprofile, so
 * nothing of the host's rc files — prompt hooks, aliases — slows or changes it). It is sourced
 * once, by the first PROMPT_COMMAND (given in the environment), and:
 *
 * - turns off echo and output newline translation, so the terminal returns the command's bytes
 *   exactly and never our input, and XON/XOFF, so a ^S in a command's stdin is data and does not
 *   stop the terminal's output (the end marker with it);
 * - empties the prompts, and sets PROMPT_COMMAND to print the end-of-exec marker (see
 *   markers.ts) — one write, on the terminal; a second on the stderr pipe only where that pipe
 *   is not drained when the first arrives (ssh) — protected as readonly so a command cannot
 *   switch completion detection off;
 * - opens the stderr pipe on a descriptor of its own (see FD), turns on alias expansion, turns off history
 *   and mail checks, and applies `ulimit -u`;
 * - sends `set -x` traces to the stderr pipe (`BASH_XTRACEFD`, on a descriptor of their own: bash
 *   closes it when the variable is unset) — on the terminal, the traces of the exec line and of
 *   PROMPT_COMMAND ran into every exec's stdout; there they are stderr, with the command's own.
 *
 * `__sd_g <nonce> [stdin]` starts an exec that announces itself: it takes the exec's nonce (and
 * whether the command reads the terminal), writes the go marker on the stderr pipe and returns the
 * previous exec's status, so `$?` carries over as it would in a terminal; `&& :` keeps a non-zero
 * status from tripping a user's `set -e`. One short call keeps the exec line short: the terminal
 * and bash's parser handle it a byte at a time. The go marker is needed where stdin waits for the
 * command to start and where the pipe is pushed to the server rather than read by it (ssh, where
 * it tells background output from the command's). An exec without either takes its nonce by
 * assignment, and calls `__sd_z` for the status only when the last one (which the server knows
 * from its end marker) was not 0: the go marker's redirection (bash saves and restores a
 * descriptor around it, ~9 system calls), a function call and even an arithmetic test cost bash
 * more than a tenth of an exec of `true` each.
 * sessiond's own commands (a state capture sets `__sd_k`) leave that status as it was.
 *
 * Input sent to a command that reads the terminal and that it left unread when it ended would be
 * read by bash next, as commands: data became code. So the end of such an exec asks the server for
 * a fence (on the stderr pipe, see markers.ts), and reads and drops everything up to
 * it — the server writes it once it has dropped the input it still held — before its end marker.
 * `read -d` puts the terminal in cbreak mode, so a half line is read too. It reads a character at a
 * time, so it reads in chunks (`-n`), each given `fenceWaitMs`: 64 KiB left over take a loaded
 * machine longer than that. A chunk that ends at the BEL (shorter than the chunk's size) and with
 * the fence ends the drop; a fence that never comes (the terminal dropped it) is waited for
 * `fenceWaitMs` after the last input.
 * A Ctrl-C in that input (the server writes it until it sees the request) would interrupt bash:
 * SIGINT is ignored while it drops (the session's own INT trap put back after), and one that
 * lands before that interrupts PROMPT_COMMAND, which bash then runs again before it reads a line
 * — the request is asked once (`__sd_f`), and the drop is only over once it is done (`__sd_i`).
 * The fence is a token bash draws once the command has ended (`$SRANDOM`, 96 bits), not the exec's
 * nonce: input written before the request, even by a command that knew the nonce, cannot hold it.
 * The builtins it needs are enabled again first (`enable -n read` in the session would have made
 * the drop fail at once, and the input run).
 *
 * The end marker goes to the terminal kept on a descriptor of its own (`__sd_tfd`) once `__sd_o`
 * is set, else to stdout: a command may move stdout for good (`exec >log`, as a script does),
 * and the marker would follow it into the file. Kept on stdout otherwise because a redirection
 * costs bash more than a fifth of an exec of `true` (it saves, moves and restores a descriptor);
 * the server sets `__sd_o` from the first exec that may move it (one that says `exec`), and
 * `__sd_r` from any other way.
 *
 * `__sd_r <nonce>` recovers an exec whose end marker never came (an interrupt that cut the
 * marker's printf, a command that cleared the nonce, or one that moved stdout by a way the
 * server could not see): unless that nonce's marker was printed already (`__sd_last`), it takes
 * the nonce again, so the next prompt prints the marker with status 130; a stdout that is no
 * longer the terminal took that marker, so then it takes the nonce again whatever `__sd_last`
 * says, and sets `__sd_o` for this exec's marker and every later one.
 *
 * `__sd_env <nonce>` is the state capture: each line of `export -p` as a record (see
 * env-records.ts), printed by one printf of its own, with its length in bytes (hence LC_ALL=C
 * once the lines are read). The lines go through the state file, not a subshell: a builtin's
 * output redirected to a file costs no fork (`>|` writes it whatever a user's `set -C` says), and
 * the file is emptied again at once.
 */
export function shellRc(options: RcOptions): string {
  const endMarker = `printf '\\e]6973;%s;%s;%s\\a' "$__sd_n" "$__sd_s" "$__sd_p"`;
  const lines = [
    "# Generated by sessiond for one live shell session; sourced once at start.",
    "unset PROMPT_COMMAND",
    "stty -echo -onlcr -ixon 2>/dev/null",
    "PS1='' PS2='' PS4='+ '",
    "HISTFILE=",
    "set +o history",
    "unset MAILCHECK MAIL",
    "shopt -s expand_aliases",
    options.maxProcesses > 0 ? `ulimit -u ${options.maxProcesses} 2>/dev/null` : "",
    `exec ${FD.stderrPipe}<>${ansiC(options.stderrPipe.path)} ${FD.devNull}</dev/null ${FD.terminal}>&1 ${FD.xtrace}>&${FD.stderrPipe}`,
    `__sd_efd=${FD.stderrPipe} __sd_tfd=${FD.terminal} BASH_XTRACEFD=${FD.xtrace}`,
    `__sd_sf=${ansiC(options.stateFile)}`,
    "__sd_st=0 __sd_pwd= __sd_n= __sd_c= __sd_k= __sd_i= __sd_f= __sd_last= __sd_s= __sd_p= __sd_x= __sd_y= __sd_t= __sd_o=",
    `__sd_g() { __sd_n=$1 __sd_i=\${2-}; printf '\\e]6973;go;%s\\a' "$1" >&"$__sd_efd"; return "$__sd_st"; }`,
    '__sd_z() { return "$__sd_st"; }',
    `__sd_r() { if [[ -z $__sd_o ]] && ! [[ /dev/fd/1 -ef /dev/fd/$__sd_tfd ]]; then __sd_o=1 __sd_n=$1; elif [[ $__sd_last != "$1" ]]; then __sd_n=$1; fi; return 130; }`,
    "__sd_done() {",
    "  __sd_s=$?",
    "  [[ -n ${__sd_n-} ]] || return 0",
    "  __sd_p=",
    "  if [[ -n ${__sd_k-} ]]; then __sd_k=; else __sd_st=$__sd_s; fi",
    "  if [[ -n ${__sd_i-} ]]; then",
    "    builtin enable builtin read trap printf 2>/dev/null || enable builtin read trap printf 2>/dev/null",
    "    __sd_y= __sd_t=",
    '    trap -p INT >|"$__sd_sf"; IFS= builtin read -r -d \'\' __sd_t <"$__sd_sf"; : >|"$__sd_sf"',
    "    trap '' INT",
    "    [[ -n ${__sd_f-} ]] || { __sd_f=${SRANDOM:-$RANDOM}${SRANDOM:-$RANDOM}${SRANDOM:-$RANDOM}; printf '\\e]6973;fence;%s;%s\\a' \"$__sd_n\" \"$__sd_f\" >&\"$__sd_efd\"; }",
    `    while IFS= builtin read -r -s -n ${FENCE_READ_CHARS} -d $'\\a' -t ${seconds(options.fenceWaitMs)} __sd_x; do`,
    `      __sd_y=\${__sd_y: -64}$__sd_x; (( \${#__sd_x} < ${FENCE_READ_CHARS} )) && [[ $__sd_y == *$'\\n'"$__sd_f" ]] && break`,
    "    done",
    '    if [[ -n $__sd_t ]]; then eval "$__sd_t"; else trap - INT; fi',
    "    __sd_i= __sd_f=",
    "  fi",
    '  if [[ $PWD != "$__sd_pwd" ]]; then __sd_pwd=$PWD; local LC_ALL=C; __sd_p="${#PWD}:$PWD"; fi',
    options.stderrPipe.drained ? "" : "  printf '\\e]6973;%s\\a' \"$__sd_n\" >&\"$__sd_efd\"",
    `  if [[ -z $__sd_o ]]; then ${endMarker}; else ${endMarker} >&"$__sd_tfd"; fi`,
    "  __sd_last=$__sd_n __sd_n= __sd_c=",
    "}",
    "__sd_env() {",
    "  local __sd_l __sd_a",
    "  __sd_k=1",
    '  export -p >|"$__sd_sf" && mapfile -t __sd_a <"$__sd_sf" && : >|"$__sd_sf" || return',
    "  local LC_ALL=C",
    "  for __sd_l in \"${__sd_a[@]}\"; do",
    "    printf '\\e]6973;env;%s;%s\\a%s\\e]6973;env;%s\\a' \"$1\" \"${#__sd_l}\" \"$__sd_l\" \"$1\" || return",
    "  done >&\"$__sd_tfd\"",
    "}",
    "PROMPT_COMMAND=__sd_done",
    "readonly PROMPT_COMMAND __sd_efd __sd_tfd __sd_sf",
    "readonly -f __sd_done __sd_g __sd_z __sd_r __sd_env",
    `__sd_n=${options.readyNonce}`,
    "__sd_done",
    "",
  ];
  return lines.filter((line, i) => line !== "" || i === lines.length - 1).join("\n");
}

/**
 * The fence that ends the input dropped at the end of an exec with stdin (see `__sd_done`). The
 * newline first: a line-mode terminal whose line is full (4 KiB, no newline yet) drops what comes
 * unless it ends the line, and the fence may come before bash's read has left line mode; once the
 * line has ended, the rest waits for room instead.
 */
export function fenceLine(token: string): string {
  return `\n${token}\x07`;
}

/** Characters the drop reads at most per `read` (see `__sd_done`). */
const FENCE_READ_CHARS = 4096;

/** `read -t`'s seconds, to the millisecond. */
function seconds(ms: number): string {
  return (Math.max(1, ms) / 1000).toFixed(3);
}

/** The line that ends an exec whose end marker was lost (see `__sd_r`), with status 130. */
export function recoveryLine(nonce: string): string {
  return `__sd_r ${nonce}\n`;
}

/**
 * The lines that run one exec: the command as `$'…'` pieces (one line when short, else
 * accumulated in `__sd_c` over several), then its start — with `announce`, the go marker on the
 * stderr pipe (`__sd_g`), else the nonce taken and, when `lastStatus` (the status bash holds from
 * the last exec) is not 0, that status put back (`__sd_z`, see shellRc) — and `eval` with stdin
 * from /dev/null (a descriptor opened once: cheaper than opening it per exec) and stderr to the
 * pipe, both by number (FD): a variable there costs bash an expansion per redirection, a tenth of
 * its work for an exec of `true`. With `stdin`, the command reads the terminal instead (stdin sent
 * to a running exec), and the exec is announced whatever `announce` says. With `markersOnTerminal`, `__sd_o` is set first
 * (see shellRc).
 */
export function execLines(
  nonce: string,
  pieces: readonly string[],
  options: { stdin?: boolean; announce?: boolean; lastStatus?: number; markersOnTerminal?: boolean } = {},
): string[] {
  const input = options.stdin ? "" : ` <&${FD.devNull}`;
  const quiet = `__sd_n=${nonce} __sd_i=${options.lastStatus ? "; __sd_z && :" : ""}`;
  const go = options.stdin ? `__sd_g ${nonce} 1 && :` : options.announce === false ? quiet : `__sd_g ${nonce} && :`;
  const start = options.markersOnTerminal ? `__sd_o=1; ${go}` : go;
  const run = (word: string) => `${start}; eval ${word}${input} 2>&${FD.stderrPipe}`;
  if (pieces.length === 1) return [run(`$'${pieces[0]!}'`)];
  return [...pieces.map((piece, i) => `__sd_c${i === 0 ? "" : "+"}=$'${piece}'`), run('"$__sd_c"')];
}
