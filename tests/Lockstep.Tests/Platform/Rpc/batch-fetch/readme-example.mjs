// The README's batch example, as a supabase-js app would send it: plain fetch, no library.
// Usage: node readme-example.mjs <base url> <token> <workspace id> <booking end>; prints {status, body}.
const [LOCKSTEP_URL, token, ws, endsAt] = process.argv.slice(2)
const session = { access_token: token }

const res = await fetch(`${LOCKSTEP_URL}/rest/v1/rpc`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.access_token}` },
  body: JSON.stringify({ calls: [
    { fn: 'create_client_with_contact', args: { p_workspace_id: ws, p_client_name: 'Ann Lee', p_contact_name: 'Ann Lee' } },
    { fn: 'create_purchase', args: { p_client_id: { $ref: '0.client_id' }, p_sessions_total: 10 } },
    { fn: 'create_booking', args: { p_client_id: { $ref: '0.client_id' }, p_purchase_id: { $ref: '1.purchase_id' },
                                   p_starts_at: '2026-12-01T09:00:00Z', p_ends_at: endsAt } },
  ] }),
})
const body = await res.json()
console.log(JSON.stringify({ status: res.status, body }))
