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

// Overloads: set_primary_contact and use_session each have an id-only form and a p_workspace_id-first one;
// the argument names choose (PostgREST would answer PGRST203 if two could).
const createWorkspace = outcome(await client.rpc('create_workspace', { p_name: 'Interop' }));
const p_workspace_id = createWorkspace.data?.workspace_id;
const created = await client.rpc('create_client_with_contact', {
  p_workspace_id, p_client_name: 'Acme', p_contact_name: 'Ann', p_contact_phone: '+15550100188' });
const { client_id: p_client_id, contact_id: ann } = created.data ?? {};
const bob = (await client.rpc('add_contact', { p_workspace_id, p_client_id, p_name: 'Bob', p_phone: '+15550100187' })).data?.contact_id;
const primaryWithWorkspace = outcome(await client.rpc('set_primary_contact', { p_workspace_id, p_client_id, p_contact_id: bob }));
const primaryIdOnly = outcome(await client.rpc('set_primary_contact', { p_client_id, p_contact_id: ann }));
const p_purchase_id = (await client.rpc('create_purchase', { p_workspace_id, p_client_id, p_sessions_total: 2 })).data?.purchase_id;
const useWithWorkspace = outcome(await client.rpc('use_session', { p_workspace_id, p_purchase_id }));
const useIdOnly = outcome(await client.rpc('use_session', { p_purchase_id }));

console.log(JSON.stringify({
  createWorkspace,
  primaryWithWorkspace,
  primaryIdOnly,
  useWithWorkspace,
  useIdOnly,
  clientId: p_client_id ?? null,
  annId: ann ?? null,
  purchaseId: p_purchase_id ?? null,
  unknownFunction: outcome(await client.rpc('no_such_function')),
  unknownFunctionWithArgument: outcome(await client.rpc('no_such_function', { p_name: 'x' })),
  signedOut: outcome(await signedOut.rpc('list_workspaces')),
}));
