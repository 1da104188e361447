import { backendTest } from "../_support/backends.ts";
import { openDoor } from "../wire/_door.ts";

backendTest("explore", async (t) => {
  await using fx = await openDoor(t);
  await Deno.writeTextFile(`/tmp/meta_port_${t.backend}`, String(fx.port));
  while (true) {
    try {
      await Deno.stat(`/tmp/meta_stop_${t.backend}`);
      break;
    } catch { /* keep going */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  await Deno.remove(`/tmp/meta_stop_${t.backend}`);
}, { only: [Deno.env.get("ONLY") as "pglite" | "postgres"] });
