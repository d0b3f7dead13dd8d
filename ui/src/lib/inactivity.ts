// Calls `onIdle` after `minutes` without a touch, click or key; any activity restarts
// the count. Returns a function that stops watching.
export function watchInactivity(minutes: () => number, onIdle: () => void, target: EventTarget = window): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const restart = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onIdle, minutes() * 60_000);
  };
  const events = ['pointerdown', 'keydown', 'touchstart', 'wheel'];
  events.forEach((e) => target.addEventListener(e, restart, { passive: true }));
  restart();
  return () => {
    if (timer) clearTimeout(timer);
    events.forEach((e) => target.removeEventListener(e, restart));
  };
}
