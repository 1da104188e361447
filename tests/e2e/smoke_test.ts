import { backendTest } from "../_support/backends.ts";
import { ALICE, FOLDER, openDoor } from "../wire/_door.ts";

backendTest("smoke", async (t) => {
  await using fx = await openDoor(t);
  const out = await new Deno.Command("psql", {
    args: [
      `host=127.0.0.1 port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=disable`,
      "-c",
      "select id, label, meta from lists.samples order by id",
      "-c",
      "select current_user, current_setting('search_path')",
      "-c",
      "insert into lists.samples (id) values (9)",
    ],
    env: { PGPASSWORD: ALICE.password },
  }).output();
  console.log(new TextDecoder().decode(out.stdout), new TextDecoder().decode(out.stderr));
});
