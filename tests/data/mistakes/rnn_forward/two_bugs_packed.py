# expect: A0_EVERY_STEP
a = np.zeros((n_a, m, T_x))
y_pred = np.zeros((n_y, m, T_x))
for t in range(T_x):
    a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a0, parameters)
    a[:, :, t] = a_next
    caches.append(cache)
