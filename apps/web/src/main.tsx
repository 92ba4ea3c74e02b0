import { createGatehouseClient } from '@gatehouse/client';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import '@gatehouse/design/gatehouse.css';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');

/**
 * The demo's sign-in button signs in with this tenant (acme, the dev stack's default); typing an
 * email finds the tenant by its domain instead. `VITE_GATEHOUSE_DEFAULT_TENANT` changes it.
 */
const configured: unknown = import.meta.env['VITE_GATEHOUSE_DEFAULT_TENANT'];
const defaultTenant = typeof configured === 'string' && configured !== '' ? configured : 'acme';

createRoot(container).render(
  <StrictMode>
    <App client={createGatehouseClient({ defaultTenant })} />
  </StrictMode>,
);
