import { useEffect, useRef, useState } from "preact/hooks";
import { AttachConnection, type AttachRole } from "../../api/attach.js";
import type { Session } from "../../api/types.js";

type Xterm = import("@xterm/xterm").Terminal;

/**
 * A live shell's terminal (xterm.js, loaded with this view only) over the attach WebSocket. The
 * page asks to drive when its token may (the server makes it the driver when nobody drives,
 * else an observer); "Take control" moves the wheel to it. Observers' keystrokes go nowhere
 * (stdin is off), and the server refuses them anyway. A late joiner gets the replay; a dropped
 * socket resumes from the byte it had (AttachConnection).
 */
export function TerminalView({ session, mayDrive }: { session: Session; mayDrive: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const conn = useRef<AttachConnection>();
  const [role, setRole] = useState<AttachRole>();
  const [state, setState] = useState<string>("connecting");
  const [refused, setRefused] = useState<string>();
  const roleRef = useRef<AttachRole>();
  const [ended, setEnded] = useState(false);
  /** Bumped by "Attach again": the effect below opens a new connection. */
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let term: Xterm | undefined;
    let disposed = false;
    let observer: ResizeObserver | undefined;
    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit"), import("@xterm/xterm/css/xterm.css")]);
      if (disposed || !box.current) return;
      const t = new Terminal({ convertEol: false, scrollback: 5000, disableStdin: true, fontSize: 14, cursorBlink: false });
      term = t;
      const fit = new FitAddon();
      t.loadAddon(fit);
      t.open(box.current);
      const fitToBox = () => {
        if (roleRef.current !== "driver") return;
        const size = fit.proposeDimensions();
        if (!size || !Number.isFinite(size.cols) || size.cols < 2) return;
        if (size.cols !== t.cols || size.rows !== t.rows) {
          t.resize(size.cols, size.rows);
          conn.current?.resize(size.cols, size.rows);
        }
      };
      observer = new ResizeObserver(() => fitToBox());
      observer.observe(box.current);
      t.onData((data) => {
        if (roleRef.current === "driver") conn.current?.type(data);
      });
      conn.current = new AttachConnection(session.id, mayDrive ? "driver" : "observer", {
        onOutput: (bytes) => t.write(bytes),
        onReset: () => t.reset(),
        onRole: (r) => {
          roleRef.current = r;
          setRole(r);
          t.options.disableStdin = r !== "driver";
          if (r === "driver") {
            fitToBox();
            t.focus();
          }
        },
        onResize: (cols, rows) => {
          if (roleRef.current !== "driver") t.resize(cols, rows);
        },
        onRefused: (message) => setRefused(message),
        onState: (s, detail) => {
          setEnded(s === "ended");
          setState(detail ? `${s}: ${detail}` : s);
        },
      });
    })();
    return () => {
      disposed = true;
      observer?.disconnect();
      conn.current?.close();
      conn.current = undefined;
      term?.dispose();
    };
  }, [session.id, mayDrive, generation]);

  return (
    <section aria-labelledby="terminal-title" class="terminal">
      <h2 id="terminal-title">Terminal</h2>
      <div class="terminal-bar">
        <span role="status">
          {role ? `You are the ${role}` : "Attaching"} — {state}
        </span>
        {mayDrive && !ended && role !== "driver" && (
          <button type="button" onClick={() => (setRefused(undefined), conn.current?.takeControl())}>
            Take control
          </button>
        )}
        {ended && (
          <button type="button" onClick={() => setGeneration((g) => g + 1)}>
            Attach again
          </button>
        )}
      </div>
      {refused && (
        <p class="error" role="alert">
          {refused}
        </p>
      )}
      <div class="xterm-box" ref={box} />
    </section>
  );
}
