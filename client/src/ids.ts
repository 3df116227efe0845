// Idempotency ids for publishes and directs.

let idCounter = 0;
export function newId(random: () => number): string {
  idCounter = (idCounter + 1) % 1e9;
  return `c${Date.now().toString(36)}${Math.floor(random() * 1e9).toString(36)}${idCounter.toString(36)}`;
}
