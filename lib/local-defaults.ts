/**
 * Local-only defaults, so `npm start` and `serverless invoke local` work with no environment.
 * They are public (this file is in the repo): config refuses them whenever riskhook is not running
 * locally, even when set explicitly.
 */
export const LOCAL_GENERIC_SECRET = `whsec_${Buffer.from('riskhook-local-only-generic-secret-000').toString('base64')}`;
export const LOCAL_PEPPER = 'riskhook-local-only-pepper-do-not-deploy';
export const LOCAL_BASE_URL = 'http://localhost:3000';
