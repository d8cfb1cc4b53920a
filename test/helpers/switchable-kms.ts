/**
 * A KMS whose availability a test controls: it forwards to a real KMS (the local provider or the
 * emulator-backed AWS one) while up, and answers like a throttled / unreachable KMS while down.
 */
import { type Kms, KmsUnavailableError } from "../../src/kms/index.js";

export class SwitchableKms implements Kms {
  down = false;
  calls = 0;
  #gate: { entered: () => void; released: Promise<void> } | undefined;

  /**
   * Holds every decrypt until `release()`: `entered` resolves when the first one is waiting. Lets a
   * test interleave a slow KMS call with other work deterministically.
   */
  hold(): { entered: Promise<void>; release: () => void } {
    let entered: () => void = () => undefined;
    let release: () => void = () => undefined;
    const enteredPromise = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#gate = { entered, released };
    return {
      entered: enteredPromise,
      release: () => {
        this.#gate = undefined;
        release();
      },
    };
  }

  constructor(private readonly inner: Kms) {}

  get provider() {
    return this.inner.provider;
  }

  get currentKeyId() {
    return this.inner.currentKeyId;
  }

  isCurrentKey(keyId: string): boolean {
    return this.inner.isCurrentKey(keyId);
  }

  #check(): void {
    this.calls++;
    if (this.down) throw new KmsUnavailableError("KMS unreachable (test)", 1);
  }

  async generateDataKey(context: Parameters<Kms["generateDataKey"]>[0]) {
    this.#check();
    return this.inner.generateDataKey(context);
  }

  async decrypt(...args: Parameters<Kms["decrypt"]>) {
    this.#check();
    const gate = this.#gate;
    if (gate) {
      gate.entered();
      await gate.released;
    }
    return this.inner.decrypt(...args);
  }

  async wrap(...args: Parameters<Kms["wrap"]>) {
    this.#check();
    return this.inner.wrap(...args);
  }
}
