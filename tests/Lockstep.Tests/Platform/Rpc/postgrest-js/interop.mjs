// Calls Lockstep's /rest/v1/rpc exactly as an app's supabase-js code would, and prints one JSON line
// with what postgrest-js made of each answer, for PostgrestJsInteropTests to compare with PostgREST's.
// Usage: node interop.mjs <base-url> <token>
import { PostgrestClient } from '@supabase/postgrest-js';

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  console.error('usage: node interop.mjs <base-url> <token>');
  process.exit(2);
}

const client = new PostgrestClient(baseUrl.replace(/\/$/, '') + '/rest/v1', {
  // supabase-js always names the schema, so postgrest-js sends Content-Profile: public.
  schema: 'public',
  headers: { apikey: token, Authorization: 'Bearer ' + token },
});

// An app before anyone signs in: no Authorization header at all.
const signedOut = new PostgrestClient(baseUrl.replace(/\/$/, '') + '/rest/v1', { schema: 'public' });

const outcome = ({ data, error, status }) => ({ data, error, status });

console.log(JSON.stringify({
  createWorkspace: outcome(await client.rpc('create_workspace', { p_name: 'Interop' })),
  unknownFunction: outcome(await client.rpc('no_such_function')),
  unknownFunctionWithArgument: outcome(await client.rpc('no_such_function', { p_name: 'x' })),
  signedOut: outcome(await signedOut.rpc('list_workspaces')),
}));
