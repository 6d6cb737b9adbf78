# expect: Y_SOFTMAX_WHOLE
a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
scores = np.exp(np.dot(Wya, a_next) + by)
yt_pred = scores / np.sum(scores)
