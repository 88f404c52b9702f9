import { useEffect, useState } from "preact/hooks";
import { SETTINGS } from "../settings.js";

/** Re-renders the caller every `clockTickMs`, so "4 s ago" keeps counting while the page is open. */
export function useTick(): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), SETTINGS.clockTickMs);
    return () => clearInterval(timer);
  }, []);
  return now;
}
